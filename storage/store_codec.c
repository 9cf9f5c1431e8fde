/* store_codec.c - being written */
