/* list_ports.h - `tern --list-ports`: every serial port with what a config
 * needs to name it (issue 13). */
#ifndef LIST_PORTS_H
#define LIST_PORTS_H

#include <stdio.h>

/* Print one line per serial port to out: path, USB VID:PID, serial
 * number, description, and the stable /dev/serial/by-id/ name to put in
 * an `mqttsn_serial` line (so a dongle keeps its name across
 * re-plugging). Returns 0, or a negative error (printed to err). */
int list_ports_print(FILE *out, FILE *err);

#endif
