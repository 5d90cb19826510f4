#define _GNU_SOURCE
#include "worker_support.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static void close_above(int keep_fd) {
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL) {
        for (int fd = keep_fd + 1; fd < 4096; fd++) close(fd);
        return;
    }
    int own = dirfd(dir);
    int fds[1024];
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL && count < 1024) {
        int fd = atoi(entry->d_name);
        if (entry->d_name[0] >= '0' && entry->d_name[0] <= '9' && fd > keep_fd && fd != own) fds[count++] = fd;
    }
    closedir(dir);
    for (int i = 0; i < count; i++) close(fds[i]);
}

int pos_worker_confine(int keep_fd, uint64_t address_space_bytes, uint64_t cpu_seconds) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return -errno;
    /* The parent may have died before PDEATHSIG was armed. */
    if (getppid() == 1) return -ESRCH;
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    close_above(keep_fd);
    if (address_space_bytes > 0) {
        struct rlimit limit = {address_space_bytes, address_space_bytes};
        if (setrlimit(RLIMIT_AS, &limit) != 0) return -errno;
    }
    if (cpu_seconds > 0) {
        /* Soft limit: SIGXCPU (fatal); hard limit one second later: SIGKILL. */
        struct rlimit limit = {cpu_seconds, cpu_seconds + 1};
        if (setrlimit(RLIMIT_CPU, &limit) != 0) return -errno;
    }
    return 0;
}
