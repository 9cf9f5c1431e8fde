/* mqtt_codec.c - being written */
