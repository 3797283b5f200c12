/*
 * main.c — the gateway program: gateway -config FILE | -check -config FILE.
 */
#include "gateway.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *config = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-check") || !strcmp(argv[i], "--check"))
            check = true;
        else if ((!strcmp(argv[i], "-config") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            config = argv[++i];
        else {
            fprintf(stderr, "usage: gateway [-check] -config FILE\n");
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "usage: gateway [-check] -config FILE\n");
        return 2;
    }
    (void)check;
    fprintf(stderr, "gateway: not built yet\n");
    return 1;
}
