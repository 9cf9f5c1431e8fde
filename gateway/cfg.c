/* cfg.c - being written */
