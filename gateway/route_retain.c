/* route_retain.c - being written */
