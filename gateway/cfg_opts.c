/* cfg_opts.c - being written */
