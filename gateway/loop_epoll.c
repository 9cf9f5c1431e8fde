/* loop_epoll.c - being written */
