/* lsn.c - being written */
