/* A backend that is a program, and hostile: what a student could try from C once the
   grader runs their program. tests/test_hostile.py fills in the @NAME@ paths and ports.
   Every attempt that must be refused prints "ESCAPED: ..." if it was not. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void escaped(const char *what, int worked) {
    fprintf(stderr, worked ? "ESCAPED: %s\n" : "refused: %s\n", what);
}

static int can_read(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

static int can_write(const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

static int can_connect(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return 0;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    int ok = connect(s, (struct sockaddr *)&to, sizeof to) == 0;
    close(s);
    return ok;
}

static int can_start_a_process(void) {
    pid_t child = fork();
    if (child == 0) {
        execl("/bin/sleep", "sleep", "600", (char *)0);
        _exit(0);
    }
    return child > 0;
}

static int can_run_another_program(void) {
    char *argv[] = {"sh", "-c", "echo ESCAPED: a shell ran >&2", 0};
    execv("/bin/sh", argv);
    return 0; /* execv returns only when refused */
}

static void send_message(const char *json) {
    uint32_t size = (uint32_t)strlen(json);
    fwrite(&size, 4, 1, stdout);
    fwrite(json, 1, size, stdout);
    fflush(stdout);
}

int main(void) {
    escaped("read the root-only secret", can_read("@SECRET@"));
    escaped("read the canary", can_read("@CANARY@"));
    escaped("read the project's source", can_read("@PROJECT_FILE@"));
    escaped("write the canary", can_write("@CANARY@"));
    escaped("write the project's source", can_write("@PROJECT_FILE@"));
    escaped("connect to the listener", can_connect(@TCP_PORT@));
    escaped("signal the decoy", kill(@VICTIM@, SIGKILL) == 0);
    escaped("start a process", can_start_a_process());
    escaped("run another program", can_run_another_program());
    send_message("{\"ready\": {\"name\": \"program attack\", \"version\": \"0\", \"precision\": \"float64\", "
                 "\"methods\": [], \"protocol\": @PROTOCOL@}}");
    char buffer[1 << 16];
    uint32_t size;
    while (fread(&size, 4, 1, stdin) == 1 && size < sizeof buffer && fread(buffer, 1, size, stdin) == size) {
        buffer[size] = 0;
        if (!strstr(buffer, "\"s\":null"))
            send_message("{\"e\": {\"type\": \"NotImplementedError\", \"message\": \"not written\"}}");
    }
    return 0;
}
