/* SPDX-License-Identifier: MIT */
/* Spans, attributes and marks for the Perfetto export test (test_perfetto.sh): main names its
 * thread "pf-main" and calls handle(i) 4 times; each handle opens span "request" with
 * attributes path="/item/I" and bytes=I*10, calls parse() (which marks "parsed") inside it,
 * and marks "handled" after closing it. A second thread "pf-worker" calls parse() 3 times. */
#include <pthread.h>
#include <stdio.h>

#include "ctrace.h"

static volatile int sink;

__attribute__((noinline)) void parse(void)
{
	sink++;
	ctrace_mark("parsed");
}

__attribute__((noinline)) void handle(int i)
{
	char path[32];

	snprintf(path, sizeof(path), "/item/%d", i);
	ctrace_span_begin("request");
	ctrace_attr_str("path", path);
	ctrace_attr_int("bytes", i * 10);
	parse();
	ctrace_span_end();
	ctrace_mark("handled");
}

__attribute__((noinline)) void *worker(void *arg)
{
	ctrace_thread_name("pf-worker");
	for (int i = 0; i < 3; i++)
		parse();
	return arg;
}

int main(void)
{
	pthread_t t;

	ctrace_thread_name("pf-main");
	for (int i = 0; i < 4; i++)
		handle(i);
	pthread_create(&t, NULL, worker, NULL);
	pthread_join(t, NULL);
	return 0;
}
