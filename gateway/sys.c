/* sys.c - being written */
