# Basic: one instance from the official Debian 12 AMI, jfe installed at first boot from a URL,
# HTTP-01/TLS-ALPN-01 only (no DNS provider), an Elastic IP for the DNS records.
#
#   terraform init && terraform apply -var vpc_id=vpc-... -var subnet_id=subnet-... \
#     -var jfe_deb_url=https://... -var 'allowed_domains=["example.com"]'

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type        = string
  description = "AWS region to deploy in."
  default     = "eu-central-1"
}

variable "vpc_id" {
  type        = string
  description = "VPC to deploy in."
}

variable "subnet_id" {
  type        = string
  description = "Public subnet for the instance."
}

variable "jfe_deb_url" {
  type        = string
  description = "https:// URL of the jfe .deb built with `make deb` (e.g. a pre-signed S3 URL)."
}

variable "jfe_deb_sha256" {
  type        = string
  description = "SHA-256 of that .deb (sha256sum build/jfe_*.deb)."
  default     = ""
}

variable "acme_email" {
  type        = string
  description = "ACME account contact."
  default     = ""
}

variable "allowed_domains" {
  type        = list(string)
  description = "Only names under these domains get certificates."
  default     = []
}

module "jfe" {
  # An external caller would use "git::<repository URL>//terraform?ref=<tag>".
  source = "../.."

  name            = "jfe-basic"
  vpc_id          = var.vpc_id
  subnet_ids      = [var.subnet_id]
  jfe_deb_url     = var.jfe_deb_url
  jfe_deb_sha256  = var.jfe_deb_sha256
  acme_email      = var.acme_email
  acme_staging    = true
  allowed_domains = var.allowed_domains
  create_eip      = true
}

output "public_ip" {
  description = "Point the names jfe serves at this address."
  value       = module.jfe.public_ip
}

output "instance_id" {
  description = "The instance."
  value       = module.jfe.instance_id
}
