/* outq.c - being written */
