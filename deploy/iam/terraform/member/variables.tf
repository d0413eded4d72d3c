variable "jitbot_role_arn" {
  description = "jitbot's own role, in jitbot's account: the output bot_role_arn of the main module (deploy/iam/terraform)."
  type        = string
}

variable "create_example" {
  description = "Create the example target role jit-example-readonly in this account."
  type        = bool
  default     = false
}

variable "example_max_session_duration" {
  description = "MaxSessionDuration of jit-example-readonly, in seconds."
  type        = number
  default     = 3600
}

variable "tags" {
  description = "Tags for every resource the module creates."
  type        = map(string)
  default     = {}
}
