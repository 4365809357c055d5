# jfe on EC2: a launch template (IMDSv2 only, user-data rendered from cloud-init/user-data.yaml)
# run as a single instance or an auto-scaling group, an instance role with least privilege
# (Route53 TXT records of the given zones only; one SSM parameter for the Cloudflare token),
# and a security group.

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_ami" "debian12" {
  count = var.ami_id == null ? 1 : 0

  most_recent = true
  owners      = ["136693071363"] # Debian's official cloud images

  filter {
    name   = "name"
    values = ["debian-12-${var.architecture == "arm64" ? "arm64" : "amd64"}-*"]
  }

  filter {
    name   = "architecture"
    values = [var.architecture]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }

  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }
}

locals {
  ami_id    = var.ami_id != null ? var.ami_id : data.aws_ami.debian12[0].id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  tags      = merge({ Name = var.name }, var.tags)

  route53_enabled    = length(var.route53_zone_ids) > 0
  cloudflare_enabled = var.cloudflare_token_ssm_parameter != ""
  cloudflare_parameter_arn = format("arn:%s:ssm:%s:%s:parameter/%s", local.partition, local.region,
  data.aws_caller_identity.current.account_id, trimprefix(var.cloudflare_token_ssm_parameter, "/"))

  # The cloud-init file of the repository is the template (it is also valid cloud-config
  # as it stands); the module must therefore be used from the repository (a git source
  # with //terraform, or a local path).
  user_data = templatefile("${path.module}/../cloud-init/user-data.yaml", {
    jfe_deb_url                = var.jfe_deb_url
    jfe_deb_sha256             = var.jfe_deb_sha256
    acme_email                 = var.acme_email
    acme_staging               = var.acme_staging ? "yes" : "no"
    dns_provider               = var.dns_provider
    wildcard_domains           = join(" ", var.wildcard_domains)
    allowed_domains            = join(" ", var.allowed_domains)
    cloudflare_token_parameter = var.cloudflare_token_ssm_parameter
    aws_region                 = local.region
  })

  ingress_rules = merge(
    { for pair in setproduct(var.ingress_ports, var.ingress_cidr_ipv4) :
      "tcp-${pair[0]}-${pair[1]}" => { port = pair[0], cidr_ipv4 = pair[1], cidr_ipv6 = null }
    },
    { for pair in setproduct(var.ingress_ports, var.ingress_cidr_ipv6) :
      "tcp-${pair[0]}-${pair[1]}" => { port = pair[0], cidr_ipv4 = null, cidr_ipv6 = pair[1] }
    },
    { for cidr in var.ssh_cidr_ipv4 :
      "ssh-${cidr}" => { port = 22, cidr_ipv4 = cidr, cidr_ipv6 = null }
    },
  )
}

################################################################################
# IAM: the instance role
################################################################################

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "EC2AssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name_prefix          = "${var.name}-"
  description          = "jfe instances: DNS-01 records and the Cloudflare token parameter"
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.iam_role_permissions_boundary
  tags                 = local.tags
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${var.name}-"
  role        = aws_iam_role.this.name
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

# docs/dns-providers.md: jfe only ever changes TXT records named _acme-challenge.<name>.
data "aws_iam_policy_document" "jfe" {
  dynamic "statement" {
    for_each = local.route53_enabled ? [1] : []

    content {
      sid       = "ChangeOnlyAcmeChallengeTxt"
      actions   = ["route53:ChangeResourceRecordSets"]
      resources = [for z in var.route53_zone_ids : "arn:${local.partition}:route53:::hostedzone/${z}"]

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "route53:ChangeResourceRecordSetsRecordTypes"
        values   = ["TXT"]
      }

      condition {
        test     = "ForAllValues:StringLike"
        variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
        values   = ["_acme-challenge.*"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.route53_enabled ? [1] : []

    content {
      sid       = "ReadRecordsOfTheZones"
      actions   = ["route53:ListResourceRecordSets"]
      resources = [for z in var.route53_zone_ids : "arn:${local.partition}:route53:::hostedzone/${z}"]
    }
  }

  dynamic "statement" {
    for_each = local.route53_enabled ? [1] : []

    content {
      sid       = "WaitForChanges"
      actions   = ["route53:GetChange"]
      resources = ["arn:${local.partition}:route53:::change/*"]
    }
  }

  dynamic "statement" {
    for_each = local.route53_enabled ? [1] : []

    content {
      sid       = "FindZones"
      actions   = ["route53:ListHostedZonesByName"]
      resources = ["*"] # cannot be scoped to a zone
    }
  }

  dynamic "statement" {
    for_each = local.cloudflare_enabled ? [1] : []

    content {
      sid       = "ReadTheCloudflareToken"
      actions   = ["ssm:GetParameter"]
      resources = [local.cloudflare_parameter_arn]
    }
  }

  dynamic "statement" {
    for_each = local.cloudflare_enabled && var.cloudflare_token_kms_key_arn != null ? [1] : []

    content {
      sid       = "DecryptTheCloudflareTokenThroughSsm"
      actions   = ["kms:Decrypt"]
      resources = [var.cloudflare_token_kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "jfe" {
  count = local.route53_enabled || local.cloudflare_enabled ? 1 : 0

  name_prefix = "${var.name}-"
  role        = aws_iam_role.this.id
  policy      = data.aws_iam_policy_document.jfe.json
}

################################################################################
# Security group
################################################################################

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-"
  description = "jfe: TLS on demand for the services of the instance"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = local.ingress_rules

  security_group_id = aws_security_group.this.id
  description       = each.value.port == 22 ? "SSH (never intercepted by jfe)" : "TCP ${each.value.port} (jfe answers TLS on it)"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr_ipv4
  cidr_ipv6         = each.value.cidr_ipv6
  tags              = local.tags
}

# ACME CA, DNS APIs, the package mirror, and the services' own outbound traffic.
resource "aws_vpc_security_group_egress_rule" "ipv4" {
  security_group_id = aws_security_group.this.id
  description       = "All outbound IPv4"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "ipv6" {
  security_group_id = aws_security_group.this.id
  description       = "All outbound IPv6"
  ip_protocol       = "-1"
  cidr_ipv6         = "::/0"
  tags              = local.tags
}

################################################################################
# Launch template, then a single instance or an auto-scaling group
################################################################################

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-"
  description            = "jfe on Debian 12"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  key_name               = var.key_name
  user_data              = base64encode(local.user_data)
  vpc_security_group_ids = concat([aws_security_group.this.id], var.additional_security_group_ids)
  update_default_version = true
  ebs_optimized          = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  # IMDSv2 only: jfe reads the instance identity and role credentials with session tokens.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = var.metadata_http_put_response_hop_limit
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.root_volume_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.dns_provider != "route53" || local.route53_enabled
      error_message = "dns_provider = \"route53\" needs route53_zone_ids (the zones jfe may write _acme-challenge records in)."
    }
    precondition {
      condition     = var.dns_provider != "cloudflare" || local.cloudflare_enabled
      error_message = "dns_provider = \"cloudflare\" needs cloudflare_token_ssm_parameter."
    }
    precondition {
      condition     = length(var.wildcard_domains) == 0 || var.dns_provider != ""
      error_message = "wildcard_domains need a dns_provider (wildcards are only issued through DNS-01)."
    }
    precondition {
      condition     = var.jfe_deb_url != "" || var.ami_id != null
      error_message = "The official Debian AMI has no jfe: set jfe_deb_url, or ami_id to an image baked with packaging/packer."
    }
  }
}

resource "aws_instance" "this" {
  count = var.use_autoscaling_group ? 0 : 1

  subnet_id                   = var.subnet_ids[0]
  associate_public_ip_address = var.associate_public_ip_address

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  tags = local.tags
}

resource "aws_eip" "this" {
  count = var.use_autoscaling_group ? 0 : (var.create_eip ? 1 : 0)

  domain   = "vpc"
  instance = aws_instance.this[0].id
  tags     = local.tags
}

resource "aws_autoscaling_group" "this" {
  count = var.use_autoscaling_group ? 1 : 0

  name_prefix         = "${var.name}-"
  min_size            = var.autoscaling_group.min_size
  max_size            = var.autoscaling_group.max_size
  desired_capacity    = var.autoscaling_group.desired_capacity
  vpc_zone_identifier = var.subnet_ids
  health_check_type   = "EC2"

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = local.tags

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}
