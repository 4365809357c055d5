# Wildcard with Route53: jfe obtains *.DOMAIN and DOMAIN through DNS-01 in the hosted zone of
# DOMAIN, with an instance role that may only change _acme-challenge TXT records of that zone.
# The instance runs in an auto-scaling group of one, from an AMI baked with packaging/packer
# (jfe already installed), so it is replaced if it fails; a Route53 record set is not managed
# here because the group's address changes (use a load balancer or an Elastic IP association
# at boot for a stable one).
#
#   terraform init && terraform apply -var vpc_id=vpc-... -var 'subnet_ids=["subnet-..."]' \
#     -var ami_id=ami-... -var domain=example.com

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

variable "subnet_ids" {
  type        = list(string)
  description = "Public subnets for the auto-scaling group."
}

variable "ami_id" {
  type        = string
  description = "AMI baked with packaging/packer/jfe.pkr.hcl."
}

variable "domain" {
  type        = string
  description = "Domain with a public Route53 hosted zone; jfe serves DOMAIN and *.DOMAIN."
}

variable "acme_email" {
  type        = string
  description = "ACME account contact."
  default     = ""
}

data "aws_route53_zone" "this" {
  name         = var.domain
  private_zone = false
}

module "jfe" {
  # An external caller would use "git::<repository URL>//terraform?ref=<tag>".
  source = "../.."

  name                  = "jfe-wildcard"
  vpc_id                = var.vpc_id
  subnet_ids            = var.subnet_ids
  ami_id                = var.ami_id
  use_autoscaling_group = true
  acme_email            = var.acme_email
  acme_staging          = false
  dns_provider          = "route53"
  route53_zone_ids      = [data.aws_route53_zone.this.zone_id]
  wildcard_domains      = [var.domain]
  allowed_domains       = [var.domain]
  ingress_ports         = [80, 443, 8443]
}

output "autoscaling_group_name" {
  description = "The auto-scaling group."
  value       = module.jfe.autoscaling_group_name
}

output "iam_role_arn" {
  description = "The instance role (Route53: _acme-challenge TXT records of the zone only)."
  value       = module.jfe.iam_role_arn
}
