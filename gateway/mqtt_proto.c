/* mqtt_proto.c - being written */
