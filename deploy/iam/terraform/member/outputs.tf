output "member_role_arn" {
  description = "jitbot-member of this account; jitbot finds it by name, nothing to configure."
  value       = aws_iam_role.member.arn
}

output "permissions_boundary_arn" {
  description = "The permissions boundary every jit-* role of this account must carry."
  value       = local.boundary_arn
}

output "target_role_trust_policy" {
  description = "The trust policy to give every jit-* role of this account."
  value       = local.target_trust_policy
}

output "example_role_arn" {
  description = "role_arn of the example aws_sts role for the catalog."
  value       = var.create_example ? aws_iam_role.example[0].arn : null
}
