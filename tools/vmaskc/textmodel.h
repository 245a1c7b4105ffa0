/* textmodel: the commands' side of loading a text classifier — the model itself is library code
 * (runtime/api/textmodel.h); here the command-line options that choose how it is loaded. */
#ifndef VM_CLI_TEXTMODEL_H
#define VM_CLI_TEXTMODEL_H

#include "../../runtime/api/textmodel.h"
#include "cli.h"

/* Parses --vocab --pad --unk --tokenizer --cased --no-lowercase --no-split-punct --allow-short-vocab,
 * the data-file options (vm_cli_data_option) and the model options at argv[*i]:
 * 1 consumed, 0 not, -1 usage error (printed). */
int vm_text_option(const char *cmd, int argc, char **argv, int *i, struct vm_text_opts *o);

#endif
