/* broker.c - being written */
