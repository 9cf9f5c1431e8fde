/* route.c - being written */
