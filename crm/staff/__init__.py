"""Staff: members, roles and permissions, and the audit trail of what they read and did."""
