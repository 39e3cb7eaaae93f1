//! OrgVault core.
