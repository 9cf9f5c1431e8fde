/* buf.c - being written */
