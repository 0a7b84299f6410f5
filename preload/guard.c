/* SPDX-License-Identifier: MIT */
/*
 * Keeping out of the traced program's way: the preload's long-lived descriptors live at high
 * numbers and are re-identified (device and inode) before every use, so a program that
 * dup2()s over them or closes every descriptor never gets its own files written by the
 * preload; and the environment is read and extended without getenv()/setenv(), which a
 * program (bash) may define itself. Nothing here is on the hot path.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preload-int.h"

extern char **environ;

static int fd_base;

/* The lowest number the preload's descriptors move to: well above what programs lay out. */
static int high_base(void)
{
	struct rlimit rl;

	if (fd_base)
		return fd_base;
	fd_base = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048)
		fd_base = rl.rlim_cur > 64 ? (int)(rl.rlim_cur / 2) : 3;
	return fd_base;
}

int ctr_fd_hold(struct ctr_fd *g, int fd)
{
	struct stat st;
	int hi;

	g->fd = -1;
	if (fd < 0)
		return -1;
	if (fd < high_base() && (hi = fcntl(fd, F_DUPFD_CLOEXEC, high_base())) >= 0) {
		close(fd);
		fd = hi;
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	g->fd = fd;
	g->dev = (uint64_t)st.st_dev;
	g->ino = (uint64_t)st.st_ino;
	return fd;
}

int ctr_fd_same(const struct ctr_fd *g, int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == g->dev &&
	       (uint64_t)st.st_ino == g->ino;
}

int ctr_fd_check(struct ctr_fd *g)
{
	int saved = errno;

	if (g->fd >= 0 && !ctr_fd_same(g, g->fd))
		g->fd = -1; /* closed or reused by the program: no longer ours, never close it */
	errno = saved;
	return g->fd;
}

int ctr_fd_reopen(struct ctr_fd *g, int fd)
{
	uint64_t dev = g->dev, ino = g->ino;

	if (fd < 0)
		return -1;
	if (!ctr_fd_same(g, fd)) { /* replaced meanwhile: not the file we had */
		close(fd);
		return -1;
	}
	if (ctr_fd_hold(g, fd) < 0)
		return -1;
	g->dev = dev;
	g->ino = ino;
	return g->fd;
}

void ctr_fd_close(struct ctr_fd *g)
{
	if (ctr_fd_check(g) >= 0)
		close(g->fd);
	g->fd = -1;
}

/* ---- environment without getenv / setenv --------------------------------------------- */

static size_t cstrlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static char *env_match(char *entry, const char *name)
{
	size_t i = 0;

	while (name[i] && entry[i] == name[i])
		i++;
	return !name[i] && entry[i] == '=' ? entry + i + 1 : NULL;
}

const char *ctr_getenv(const char *name)
{
	char **e = environ, *v;
	int found = 0;
	const char *a = ctr_attach_env(name, &found);

	if (found) /* under `ctrace attach`: its configuration, never the program's environment */
		return a;

	for (; e && *e; e++)
		if ((v = env_match(*e, name)))
			return v;
	return NULL;
}

static void *page_alloc(size_t n)
{
	void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

int ctr_setenv(const char *name, const char *val)
{
	size_t nl = cstrlen(name), vl = cstrlen(val), n = 0;
	char *s = page_alloc(nl + vl + 2), **e = environ, **arr;

	if (!s)
		return -1;
	for (size_t i = 0; i < nl; i++)
		s[i] = name[i];
	s[nl] = '=';
	for (size_t i = 0; i <= vl; i++)
		s[nl + 1 + i] = val[i];
	for (; e && e[n]; n++) {
		if (env_match(e[n], name)) {
			e[n] = s;
			return 0;
		}
	}
	/* a new array (the old one may be the kernel's, with no room): main() and exec see it */
	arr = page_alloc((n + 2) * sizeof(char *));
	if (!arr) {
		munmap(s, nl + vl + 2);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		arr[i] = e[i];
	arr[n] = s;
	arr[n + 1] = NULL;
	environ = arr;
	return 0;
}
