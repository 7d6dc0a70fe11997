/* main.c: the c backend of microgpt-spec, a program that speaks the spec's wire protocol
 * on its standard input and output (docs/protocol.md). Read README.md first. */
#include "protocol.h"

int main(void) { return protocol_serve(); }
