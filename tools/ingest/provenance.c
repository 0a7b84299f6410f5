/* SPDX-License-Identifier: MIT */
/*
 * Run provenance (provenance.h): host facts from uname(2) and /proc/cpuinfo, build facts from
 * the main binary's ELF .comment section, GNU build-id note and the .ctrace-exclude list that
 * ctrace-cc embeds, read with libelf.
 */
#include "provenance.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "elflib.h"

static int has_key(const struct ctr_run *r, const char *key)
{
	for (size_t i = 0; i < r->n_meta; i++)
		if (r->meta[i].key && !strcmp(r->meta[i].key, key))
			return 1;
	return 0;
}

int ctr_meta_append(struct ctr_run *r, const char *key, const char *value)
{
	struct ctr_kv *m;

	if (!(m = realloc(r->meta, (r->n_meta + 1) * sizeof(*m))))
		return CTR_ENOMEM;
	r->meta = m;
	m[r->n_meta].key = strdup(key);
	m[r->n_meta].value = strdup(value);
	if (!m[r->n_meta].key || !m[r->n_meta].value) {
		free(m[r->n_meta].key);
		free(m[r->n_meta].value);
		return CTR_ENOMEM;
	}
	r->n_meta++;
	return 0;
}

/* Appends @key=@value (copied) unless @value is empty or @key is there already. */
static int add(struct ctr_run *r, const char *key, const char *value)
{
	if (!value || !*value || has_key(r, key))
		return 0;
	return ctr_meta_append(r, key, value);
}

/* The first "model name" of /proc/cpuinfo into @buf ("" if none). */
static void cpu_model(char *buf, size_t n)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512];

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon || strncmp(line, "model name", 10))
			continue;
		colon++;
		colon += strspn(colon, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, n, "%s", colon);
		break;
	}
	fclose(f);
}

/* Appends the distinct NUL-separated strings of a .comment section to @out ("; "-joined). */
static void comment_strings(const char *d, size_t size, char *out, size_t n)
{
	for (size_t off = 0; off < size;) {
		const char *s = d + off;
		size_t len = strnlen(s, size - off);

		off += len + 1;
		if (!len || strstr(out, s))
			continue;
		size_t used = strlen(out);
		snprintf(out + used, n - used, "%s%.*s", used ? "; " : "", (int)len, s);
	}
}

/* What ctrace-cc embedded from a .ctrace-exclude list (docs/ctrace-cc.md): the section holds
 * the file; its "# run:" and "# hidden-calls:" header lines and entry lines are read. */
#define EXCL_SECTION ".ctrace_exclude"
#define EXCL_LIST_MAX 4096
struct excl_facts {
	unsigned long count; /* entries; 0 when the binary has no list */
	char run[CTR_RUN_ID_MAX];
	char hidden[32];
	char list[EXCL_LIST_MAX]; /* entries joined with ",", "..." at the end when cut */
};

static void excl_line(struct excl_facts *x, const char *l, size_t n)
{
	size_t len = strlen(x->list);

	while (n && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r'))
		n--;
	if (n > 7 && !strncmp(l, "# run: ", 7)) {
		snprintf(x->run, sizeof(x->run), "%.*s", (int)(n - 7), l + 7);
		return;
	}
	if (n > 16 && !strncmp(l, "# hidden-calls: ", 16)) {
		snprintf(x->hidden, sizeof(x->hidden), "%.*s", (int)(n - 16), l + 16);
		return;
	}
	if (!n || l[0] == '#')
		return;
	x->count++;
	if (len + n + 5 >= sizeof(x->list)) {
		if (!strstr(x->list, ",..."))
			snprintf(x->list + len, sizeof(x->list) - len, ",...");
		return;
	}
	snprintf(x->list + len, sizeof(x->list) - len, "%s%.*s", len ? "," : "", (int)n, l);
}

/* Reads the embedded list @d of @size bytes: one entry a line, a trailing "# ..." comment cut
 * (no C or C++ name holds a '#'). */
static void excl_read(struct excl_facts *x, const char *d, size_t size)
{
	while (size) {
		const char *nl = memchr(d, '\n', size);
		size_t n = nl ? (size_t)(nl - d) : size;
		const char *hash = d[0] == '#' ? NULL : memchr(d, '#', n);

		excl_line(x, d, hash ? (size_t)(hash - d) : n);
		if (!nl)
			break;
		size -= n + 1;
		d = nl + 1;
	}
}

/* build.compiler and build.id of the ELF file @path into @comp and @id ("" when absent), and
 * its embedded exclusion list into @x. */
static void elf_facts(const char *path, char *comp, size_t ncomp, char *id, size_t nid,
		      struct excl_facts *x)
{
	Elf *elf = NULL;
	Elf_Scn *scn = NULL;
	size_t shstr;
	int fd;

	comp[0] = id[0] = '\0';
	if (ctr_elflib_load(NULL) < 0 || elf_version(EV_CURRENT) == EV_NONE ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_getshdrstrndx(elf, &shstr) != 0)
		goto out;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstr, sh.sh_name)) ||
		    !(data = elf_getdata(scn, NULL)) || !data->d_buf)
			continue;
		if (sh.sh_type == SHT_PROGBITS && !strcmp(name, ".comment")) {
			comment_strings(data->d_buf, data->d_size, comp, ncomp);
		} else if (sh.sh_type == SHT_PROGBITS && !strcmp(name, EXCL_SECTION)) {
			excl_read(x, data->d_buf, strnlen(data->d_buf, data->d_size));
		} else if (sh.sh_type == SHT_NOTE && !id[0]) {
			GElf_Nhdr nh;
			size_t off = 0, noff, doff;

			while ((off = gelf_getnote(data, off, &nh, &noff, &doff)) > 0) {
				const unsigned char *b = (const unsigned char *)data->d_buf + doff;

				if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
				    memcmp((const char *)data->d_buf + noff, "GNU", 4))
					continue;
				for (size_t i = 0; i < nh.n_descsz && 2 * i + 2 < nid; i++)
					snprintf(id + 2 * i, 3, "%02x", b[i]);
				break;
			}
		}
	}
out:
	elf_end(elf);
	close(fd);
}

int ctr_provenance_add(struct ctr_run *r, const char *exe)
{
	struct utsname u;
	char cpu[256], comp[512], id[130], count[32];
	struct excl_facts x;
	int ret = 0;

	if (uname(&u) == 0)
		ret = add(r, "host.kernel", u.release);
	cpu_model(cpu, sizeof(cpu));
	if (!ret)
		ret = add(r, "host.cpu", cpu[0] ? cpu : (uname(&u) == 0 ? u.machine : ""));
	if (!ret && sysconf(_SC_NPROCESSORS_ONLN) > 0) {
		snprintf(count, sizeof(count), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
		ret = add(r, "host.cpus", count);
	}
	if (!ret && exe && *exe) {
		memset(&x, 0, sizeof(x));
		elf_facts(exe, comp, sizeof(comp), id, sizeof(id), &x);
		if (!(ret = add(r, "build.compiler", comp)))
			ret = add(r, "build.id", id);
		if (!ret && x.count) {
			snprintf(count, sizeof(count), "%lu", x.count);
			if (!(ret = add(r, "build.excluded", count)) &&
			    !(ret = add(r, "build.excluded.list", x.list)) && x.run[0] &&
			    !(ret = add(r, "build.excluded.run", x.run)) && x.hidden[0])
				ret = add(r, "build.excluded.hidden_calls", x.hidden);
		}
	}
	return ret;
}

int ctr_provenance_is_static(const char *path)
{
	Elf *elf = NULL;
	size_t n;
	int fd, ret = -1;

	if (ctr_elflib_load(NULL) < 0 || elf_version(EV_CURRENT) == EV_NONE ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF && elf_getphdrnum(elf, &n) == 0) {
		ret = 1;
		for (size_t i = 0; i < n; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP)
				ret = 0;
		}
	}
	elf_end(elf);
	close(fd);
	return ret;
}
