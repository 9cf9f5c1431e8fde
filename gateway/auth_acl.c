/* auth_acl.c - being written */
