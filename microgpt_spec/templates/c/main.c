/* main.c: the {{name}} backend, for microgpt-spec, a program that speaks the spec's wire protocol
 * on its standard input and output (docs/protocol.md). Read README.md first. */
#include "protocol.h"

/* How the backend names itself to the spec (its `ready` message). */
const char *const BACKEND_NAME = "{{name}}", *const BACKEND_VERSION = "0.1";

int main(void) { return protocol_serve(); }
