output "ami_id" {
  description = "AMI the instances run."
  value       = local.ami_id
}

output "autoscaling_group_name" {
  description = "Name of the auto-scaling group (null with a single instance)."
  value       = try(aws_autoscaling_group.this[0].name, null)
}

output "iam_role_arn" {
  description = "ARN of the instance role."
  value       = aws_iam_role.this.arn
}

output "iam_role_name" {
  description = "Name of the instance role, to attach more policies to (e.g. AmazonSSMManagedInstanceCore)."
  value       = aws_iam_role.this.name
}

output "instance_id" {
  description = "Id of the single instance (null with the auto-scaling group)."
  value       = try(aws_instance.this[0].id, null)
}

output "instance_profile_name" {
  description = "Name of the instance profile."
  value       = aws_iam_instance_profile.this.name
}

output "launch_template_id" {
  description = "Id of the launch template."
  value       = aws_launch_template.this.id
}

output "launch_template_latest_version" {
  description = "Latest version of the launch template."
  value       = aws_launch_template.this.latest_version
}

output "public_ip" {
  description = "Public IPv4 address of the single instance: the Elastic IP when create_eip is true (null with the auto-scaling group). Point the DNS names jfe serves at it."
  value       = try(aws_eip.this[0].public_ip, aws_instance.this[0].public_ip, null)
}

output "security_group_id" {
  description = "Id of the security group the module created."
  value       = aws_security_group.this.id
}

output "user_data" {
  description = "The rendered cloud-init user-data (holds no secret: the Cloudflare token stays in SSM)."
  value       = local.user_data
}
