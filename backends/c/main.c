/* main.c: the c backend of microgpt-spec, a program that speaks the spec's wire protocol
 * on its standard input and output (docs/protocol.md). Read README.md first. */
#include "protocol.h"

/* How the backend names itself to the spec (its `ready` message). */
const char *const BACKEND_NAME = "c", *const BACKEND_VERSION = "1.0";

int main(void) { return protocol_serve(); }
