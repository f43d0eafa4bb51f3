/* The one program of the distroless-like test image (built with gcc -static).
 *
 * Prints the real and effective user and group ids so a container without a shell can still
 * show who it runs as; `hello SECONDS` then sleeps, so the container stays up to be audited;
 * `hello -w PATH` exits 0 only when it can create and remove a file in directory PATH (how the
 * tests prove WORKDIR is writable without a shell).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("uid=%d euid=%d gid=%d egid=%d\n", (int)getuid(), (int)geteuid(), (int)getgid(),
           (int)getegid());
    fflush(stdout);
    if (argc > 2 && strcmp(argv[1], "-w") == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/.fixuser-write-probe", argv[2]);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            perror(argv[2]);
            return 1;
        }
        fclose(f);
        unlink(path);
        printf("writable %s\n", argv[2]);
        return 0;
    }
    if (argc > 1) {
        sleep((unsigned)atoi(argv[1]));
    }
    return 0;
}
