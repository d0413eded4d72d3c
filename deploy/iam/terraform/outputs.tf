output "bot_role_arn" {
  description = "jitbot's role: the Helm chart's serviceAccount.annotations for IRSA, or the Pod Identity association's role."
  value       = aws_iam_role.bot.arn
}

output "service_account_annotations" {
  description = "serviceAccount.annotations for the Helm chart (IRSA); empty with Pod Identity."
  value       = var.oidc_provider_arn == "" ? {} : { "eks.amazonaws.com/role-arn" = aws_iam_role.bot.arn }
}

output "target_role_trust_policy" {
  description = "The trust policy to give every role jitbot hands out (names must start with jit-)."
  value       = local.target_trust_policy
}

output "example_role_arn" {
  description = "role_arn of the example aws_sts role for the catalog."
  value       = var.create_examples ? aws_iam_role.example[0].arn : null
}

output "example_group_name" {
  description = "group of the example aws_iam_group role for the catalog."
  value       = var.create_examples ? aws_iam_group.example[0].name : null
}

output "permissions_boundary_arn" {
  description = "The permissions boundary every role jitbot hands out must carry (jitbot cannot revoke early on a role without it)."
  value       = local.boundary_arn
}
