variable "acme_email" {
  type        = string
  description = "Contact address of the ACME account (expiry and incident mail from the CA). Empty: no contact."
  default     = ""

  validation {
    condition     = var.acme_email == "" || can(regex("^[^@\\s'\"$`\\\\]+@[^@\\s'\"$`\\\\]+\\.[a-z]{2,}$", var.acme_email))
    error_message = "acme_email must be empty or an e-mail address."
  }
}

variable "acme_staging" {
  type        = bool
  description = "Use Let's Encrypt's staging directory (untrusted certificates, generous rate limits). Set to false for browser-trusted certificates."
  default     = true
}

variable "additional_security_group_ids" {
  type        = list(string)
  description = "More security groups for the instances, besides the one this module creates."
  default     = []
}

variable "allowed_domains" {
  type        = list(string)
  description = "Only names under these suffixes get certificates (jfe's --allow-domain). Empty: any name that resolves to the instance."
  default     = []

  validation {
    condition     = alltrue([for d in var.allowed_domains : can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$", d))])
    error_message = "allowed_domains must be lower-case DNS names without a trailing dot."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI to launch: an image baked with packaging/packer/jfe.pkr.hcl, or any Debian 12 image. Null: the latest official Debian 12 AMI for var.architecture."
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "architecture" {
  type        = string
  description = "CPU architecture of the official Debian 12 AMI looked up when ami_id is null (the package must match it)."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "associate_public_ip_address" {
  type        = bool
  description = "Give the single instance a public IPv4 address (ignored with the auto-scaling group, where the subnets decide)."
  default     = true
}

variable "autoscaling_group" {
  type = object({
    min_size         = number
    max_size         = number
    desired_capacity = number
  })
  description = "Sizes of the auto-scaling group, when use_autoscaling_group is true."
  default = {
    min_size         = 1
    max_size         = 1
    desired_capacity = 1
  }

  validation {
    condition     = 0 <= var.autoscaling_group.min_size && var.autoscaling_group.min_size <= var.autoscaling_group.desired_capacity && var.autoscaling_group.desired_capacity <= var.autoscaling_group.max_size
    error_message = "autoscaling_group needs 0 <= min_size <= desired_capacity <= max_size."
  }
}

variable "cloudflare_token_kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key that encrypts the Cloudflare token parameter; the role gets kms:Decrypt on it, through SSM only. Null: the parameter uses the AWS-managed key aws/ssm."
  default     = null

  validation {
    condition     = var.cloudflare_token_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.cloudflare_token_kms_key_arn))
    error_message = "cloudflare_token_kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "cloudflare_token_ssm_parameter" {
  type        = string
  description = "Name of the SSM Parameter Store SecureString that holds the Cloudflare API token (Zone:DNS:Edit and Zone:Zone:Read on your zones), in this account and region. The instance reads it at boot with its role; only the name goes into user-data. Empty: no Cloudflare."
  default     = ""

  validation {
    condition     = var.cloudflare_token_ssm_parameter == "" || can(regex("^/?[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*$", var.cloudflare_token_ssm_parameter))
    error_message = "cloudflare_token_ssm_parameter must be a parameter name such as /jfe/cloudflare-token (not an ARN)."
  }
}

variable "create_eip" {
  type        = bool
  description = "Attach an Elastic IP to the single instance, so that DNS records can point at a stable address."
  default     = false
}

variable "dns_provider" {
  type        = string
  description = "DNS-01 provider jfe uses for wildcards and for names the CA cannot reach over HTTP: \"\" (none), \"route53\" or \"cloudflare\"."
  default     = ""

  validation {
    condition     = contains(["", "route53", "cloudflare"], var.dns_provider)
    error_message = "dns_provider must be \"\", \"route53\" or \"cloudflare\"."
  }
}

variable "iam_role_permissions_boundary" {
  type        = string
  description = "ARN of a permissions boundary for the instance role. Null: none."
  default     = null
}

variable "ingress_cidr_ipv4" {
  type        = list(string)
  description = "IPv4 ranges allowed to reach ingress_ports."
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.ingress_cidr_ipv4 : can(cidrnetmask(c))])
    error_message = "ingress_cidr_ipv4 must hold IPv4 CIDR blocks."
  }
}

variable "ingress_cidr_ipv6" {
  type        = list(string)
  description = "IPv6 ranges allowed to reach ingress_ports (used when the subnet has IPv6)."
  default     = ["::/0"]

  validation {
    condition     = alltrue([for c in var.ingress_cidr_ipv6 : can(cidrhost(c, 0)) && strcontains(c, ":")])
    error_message = "ingress_cidr_ipv6 must hold IPv6 CIDR blocks."
  }
}

variable "ingress_ports" {
  type        = list(number)
  description = "TCP ports open to ingress_cidr_ipv4/ipv6. 80 and 443 carry the HTTP-01 and TLS-ALPN-01 challenges; add the ports of the services jfe fronts (e.g. 8443, 993). Port 22 is controlled by ssh_cidr_ipv4."
  default     = [80, 443]

  validation {
    condition     = alltrue([for p in var.ingress_ports : p >= 1 && p <= 65535 && floor(p) == p && p != 22])
    error_message = "ingress_ports must be whole numbers in 1-65535, without 22 (see ssh_cidr_ipv4)."
  }
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type."
  default     = "t3.small"
}

variable "jfe_deb_sha256" {
  type        = string
  description = "SHA-256 of the package at jfe_deb_url, checked on the instance before installing. Empty: not checked."
  default     = ""

  validation {
    condition     = can(regex("^([0-9a-f]{64})?$", var.jfe_deb_sha256))
    error_message = "jfe_deb_sha256 must be empty or 64 lower-case hex digits."
  }
}

variable "jfe_deb_url" {
  type        = string
  description = "Where the instance gets the jfe .deb at first boot (the package is not in Debian): an https:// URL (e.g. a pre-signed S3 URL), or an absolute path on the image. Empty: the AMI already has jfe (baked with packaging/packer)."
  default     = ""

  validation {
    condition     = var.jfe_deb_url == "" || can(regex("^(https?://|file:///|/)[^'\"$`\\\\\\s]+$", var.jfe_deb_url))
    error_message = "jfe_deb_url must be empty, an http(s):// or file:// URL, or an absolute path, without quotes, $ or spaces."
  }
}

variable "key_name" {
  type        = string
  description = "EC2 key pair for SSH. Null: no key (use SSM Session Manager or a baked key)."
  default     = null
}

variable "metadata_http_put_response_hop_limit" {
  type        = number
  description = "IMDSv2 hop limit. 1 is enough for jfe, which runs on the host; 2 only for containers."
  default     = 1

  validation {
    condition     = var.metadata_http_put_response_hop_limit >= 1 && var.metadata_http_put_response_hop_limit <= 2
    error_message = "metadata_http_put_response_hop_limit must be 1 or 2."
  }
}

variable "name" {
  type        = string
  description = "Name of the deployment: prefix of every resource name, and the Name tag."
  default     = "jfe"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,30}$", var.name))
    error_message = "name must start with a letter and hold at most 31 letters, digits and dashes."
  }
}

variable "root_volume_size" {
  type        = number
  description = "Size of the encrypted gp3 root volume, in GiB."
  default     = 8

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 16384
    error_message = "root_volume_size must be between 8 and 16384 GiB."
  }
}

variable "route53_zone_ids" {
  type        = list(string)
  description = "Route53 hosted zones jfe may write _acme-challenge TXT records in (dns_provider = \"route53\"). The instance role gets the least-privilege policy of docs/dns-providers.md for exactly these zones."
  default     = []

  validation {
    condition     = alltrue([for z in var.route53_zone_ids : can(regex("^Z[0-9A-Z]{1,31}$", z))])
    error_message = "route53_zone_ids must hold hosted zone ids such as Z0123456789ABCDEFGHIJ (without /hostedzone/)."
  }
}

variable "ssh_cidr_ipv4" {
  type        = list(string)
  description = "IPv4 ranges allowed to reach SSH (port 22, never intercepted by jfe). Empty: port 22 closed."
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_cidr_ipv4 : can(cidrnetmask(c))])
    error_message = "ssh_cidr_ipv4 must hold IPv4 CIDR blocks."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets to launch in: the single instance uses the first one, the auto-scaling group all of them."

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must hold at least one subnet id (subnet-...)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}

variable "use_autoscaling_group" {
  type        = bool
  description = "Run the instance in an auto-scaling group (replaced when it fails; its address changes) instead of a single aws_instance (stable address, optionally an Elastic IP)."
  default     = false
}

variable "vpc_id" {
  type        = string
  description = "VPC of the subnets; the security group is created there."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "wildcard_domains" {
  type        = list(string)
  description = "Domains D for which jfe obtains *.D and D through DNS-01 (needs dns_provider)."
  default     = []

  validation {
    condition     = alltrue([for d in var.wildcard_domains : can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$", d))])
    error_message = "wildcard_domains must be lower-case DNS names such as example.com (without \"*.\")."
  }
}
