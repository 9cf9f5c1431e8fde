/* topic.c - being written */
