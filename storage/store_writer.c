/* store_writer.c - being written */
