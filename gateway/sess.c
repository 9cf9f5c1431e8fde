/* sess.c - being written */
