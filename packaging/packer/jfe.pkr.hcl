# jfe AMI: the official Debian 12 AMI with the jfe package installed, its options file and
# jfe.service enabled, IMDSv2 required. The instance does what `make rootfs-check` does offline
# in a debootstrap chroot: packaging/bake.sh.
#
#   make deb
#   packer init packaging/packer
#   packer build -var deb=build/jfe_0.1.0-1_amd64.deb packaging/packer
#
# Credentials come from the usual AWS chain (environment, profile, instance role).

variable "deb" {
  type        = string
  description = "Path of the jfe .deb built with `make deb` (its architecture must match var.architecture)."
}

variable "architecture" {
  type        = string
  description = "x86_64 (for an amd64 package) or arm64."
  default     = "x86_64"
}

variable "instance_type" {
  type        = string
  description = "Instance type of the build instance."
  default     = "t3.small"
}

variable "options_file" {
  type        = string
  description = "Options file installed as /etc/jfe/jfe.conf (checked with jfe rules -f first). Empty: jfe.conf next to this template."
  default     = ""
}

variable "region" {
  type        = string
  description = "Region the AMI is built in."
  default     = "eu-central-1"
}

variable "subnet_id" {
  type        = string
  description = "Subnet of the build instance (empty: the default VPC)."
  default     = ""
}

locals {
  # jfe_0.1.0-1_amd64.deb -> 0.1.0-1
  version   = regex_replace(basename(var.deb), "^jfe_([^_]+)_.*$", "$1")
  stamp     = formatdate("YYYYMMDDhhmmss", timestamp())
  deb_arch  = var.architecture == "arm64" ? "arm64" : "amd64"
  bake_path = "${path.root}/../bake.sh"
  options   = var.options_file != "" ? var.options_file : "${path.root}/jfe.conf"
}

source "amazon-ebs" "debian12" {
  region          = var.region
  instance_type   = var.instance_type
  subnet_id       = var.subnet_id
  ssh_username    = "admin"
  ami_name        = "jfe-${local.version}-debian-12-${local.deb_arch}-${local.stamp}"
  ami_description = "Debian 12 with jfe ${local.version} (TLS on demand for every TCP service)"
  imds_support    = "v2.0"

  source_ami_filter {
    owners      = ["136693071363"] # Debian's official cloud images
    most_recent = true
    filters = {
      name                = "debian-12-${local.deb_arch}-*"
      architecture        = var.architecture
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }

  # The build instance too: IMDSv2 only.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 8
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }

  tags = {
    Name        = "jfe-${local.version}-debian-12"
    jfe_version = local.version
    base_ami    = "{{ .SourceAMI }}"
  }
}

build {
  name    = "jfe"
  sources = ["source.amazon-ebs.debian12"]

  provisioner "file" {
    source      = var.deb
    destination = "/tmp/jfe.deb"
  }

  provisioner "file" {
    source      = local.options
    destination = "/tmp/jfe.conf"
  }

  provisioner "file" {
    source      = local.bake_path
    destination = "/tmp/jfe-bake.sh"
  }

  provisioner "shell" {
    inline = [
      "sudo sh /tmp/jfe-bake.sh --clean /tmp/jfe.deb /tmp/jfe.conf",
      "rm -f /tmp/jfe.deb /tmp/jfe.conf /tmp/jfe-bake.sh",
    ]
  }

  post-processor "manifest" {
    output     = "build/packer-manifest.json"
    strip_path = true
  }
}
