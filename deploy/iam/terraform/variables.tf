variable "name" {
  description = "Name of jitbot's own IAM role."
  type        = string
  default     = "jitbot"
}

# Who may run as jitbot: set at least one of oidc_provider_arn,
# pod_identity_cluster_name and trusted_principal_arns.

variable "oidc_provider_arn" {
  description = "IRSA: ARN of the EKS cluster's IAM OIDC provider, e.g. arn:aws:iam::111111111111:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE. Empty: no IRSA trust."
  type        = string
  default     = ""
}

variable "pod_identity_cluster_name" {
  description = "EKS Pod Identity: the cluster whose jitbot service account gets the role (an association is created). Empty: no Pod Identity."
  type        = string
  default     = ""
}

variable "namespace" {
  description = "Kubernetes namespace of jitbot's service account (IRSA and Pod Identity)."
  type        = string
  default     = "jitbot"
}

variable "service_account" {
  description = "Name of jitbot's Kubernetes service account (the Helm release's full name unless serviceAccount.name is set)."
  type        = string
  default     = "jitbot"
}

variable "trusted_principal_arns" {
  description = "Other principals that may assume jitbot's role, e.g. an account (arn:aws:iam::111111111111:root) or an ECS task or EC2 instance role."
  type        = list(string)
  default     = []
}

variable "usage_lookup" {
  description = "Allow cloudtrail:LookupEvents, which JIT_USAGE_LOOKUP=true needs."
  type        = bool
  default     = false
}

variable "audit_s3_bucket" {
  description = "Bucket of JIT_AUDIT_S3_BUCKET; allows s3:PutObject under audit_s3_prefix. Empty: no S3 permission."
  type        = string
  default     = ""
}

variable "audit_s3_prefix" {
  description = "JIT_AUDIT_S3_PREFIX, without a trailing slash."
  type        = string
  default     = "jitbot/audit"
}

variable "organizational_units" {
  description = "Allow organizations:ListAccountsForParent and organizations:ListOrganizationalUnitsForParent, which aws_sso roles with organizational_unit need. Organizations answers only the management account or a delegated administrator."
  type        = bool
  default     = false
}

variable "identity_center_instance_arn" {
  description = "The IAM Identity Center instance (arn:aws:sso:::instance/ssoins-…) of aws_sso and aws_sso_group roles; JIT_SSO_INSTANCE_ARN. Empty: no Identity Center permission."
  type        = string
  default     = ""
}

variable "identity_store_id" {
  description = "The instance's identity store (d-…), whose users and groups jitbot reads and changes. Required with identity_center_instance_arn."
  type        = string
  default     = ""
}

variable "identity_center_accounts" {
  description = "The account IDs aws_sso roles may be granted in. Empty: any account of the instance."
  type        = list(string)
  default     = []
}

variable "identity_center_group_ids" {
  description = "The Identity Center group IDs aws_sso_group roles name. Empty: any group of the identity store (groups carry no tags to narrow by)."
  type        = list(string)
  default     = []
}

variable "create_examples" {
  description = "Create the example target role jit-example-readonly and the example group jit-example-admins."
  type        = bool
  default     = true
}

variable "example_max_session_duration" {
  description = "MaxSessionDuration of jit-example-readonly, in seconds. With IRSA or Pod Identity, jitbot's AssumeRole is role chaining, which AWS caps at 3600 whatever this says."
  type        = number
  default     = 3600
}

variable "tags" {
  description = "Tags for every resource the module creates."
  type        = map(string)
  default     = {}
}
