/* `mpitrain inspect FILE.h5`: prints what a dataset or checkpoint holds. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "io/dataset.h"

int cmd_inspect(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: mpitrain inspect FILE.h5\n\nPrints the groups, tensors, attributes and (for datasets) the "
               "label histogram of an mpitrain dataset or checkpoint\n(or any HDF5 file mpitrain writes, such as "
               "predict's output).\n\nExit status: 0 printed; 2 usage errors or a file that cannot be opened as "
               "HDF5 (one line naming it).\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("inspect", "expected exactly one FILE.h5");
    mt_error err = {0};
    if (mt_inspect_file(argv[1], stdout, &err))
        return cli_report(&err);
    return 0;
}
