/* sn_codec.c - being written */
