/* libFuzzer target: the small parsers of an OCI pull (core/ocimeta.c) and
 * the layer name cleaner.  The first byte picks the parser:
 *   0 manifest/index (+ platform pick)   1 image config
 *   2 WWW-Authenticate challenge        3 image reference
 *   4 docker config.json credentials    5 tar entry name -> path */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ociint.h"
#include "util.h"

static const char *const ctypes[] = {
	NULL,
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json; charset=utf-8",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	"",
};

static void no_ctrl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			abort(); /* errors are one line */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct berr err = { 0 };
	char *s;
	int r;

	if (size < 2)
		return 0;
	unsigned mode = data[0] % 6, arg = data[1];
	data += 2;
	size -= 2;
	s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';

	switch (mode) {
	case 0: {
		struct oci_manifest m;
		r = oci_manifest_parse(data, size, ctypes[arg % 6], 1 + arg % 200, &m, &err);
		if (r == 0) {
			size_t i;
			if (m.kind == OCI_M_IMAGE && m.n > 1 + arg % 200u)
				abort();
			for (size_t k = 0; k < m.n; k++)
				if (!oci_digest_valid(m.items[k].digest))
					abort();
			if (m.kind == OCI_M_INDEX && oci_index_pick(&m, "linux", "amd64", &i, &err) == 0 &&
			    i >= m.n)
				abort();
			oci_manifest_free(&m);
		}
		break;
	}
	case 1: {
		struct oci_config c;
		if (oci_config_parse(data, size, &c, &err) == 0) {
			for (size_t k = 0; k < c.n_diff_ids; k++)
				if (!oci_digest_valid(c.diff_ids[k]))
					abort();
			oci_config_free(&c);
		}
		break;
	}
	case 2: {
		struct oci_challenge c;
		if (oci_challenge_parse(s, &c, &err) == 0) {
			no_ctrl(c.realm);
			no_ctrl(c.service);
			no_ctrl(c.scope);
		}
		break;
	}
	case 3: {
		struct oci_ref ref;
		char buf[700];
		if (oci_ref_parse(s, &ref, &err) == 0) {
			struct oci_ref again;
			if (!ref.repo[0] || (!ref.tag[0] && !ref.digest[0]))
				abort();
			/* what it formats parses to the same thing */
			oci_ref_format(&ref, buf, sizeof(buf));
			if (oci_ref_parse(buf, &again, &err) != 0 || strcmp(again.repo, ref.repo) ||
			    strcmp(again.registry, ref.registry) || strcmp(again.tag, ref.tag) ||
			    strcmp(again.digest, ref.digest))
				abort();
		}
		break;
	}
	case 4: {
		char *u = NULL, *p = NULL;
		if (oci_docker_auth((const char *)data, size, arg & 1 ? "registry-1.docker.io" : "127.0.0.1:5000", &u, &p,
				    &err) == 0) {
			free(u);
			free(p);
		}
		break;
	}
	case 5: {
		char out[OCI_MAX_PATH + 1];
		if (oci_path_clean(s, out, &err) == 0) {
			if (out[0] == '/' || strstr(out, "//") || (out[0] && out[strlen(out) - 1] == '/'))
				abort();
			for (const char *p = out; (p = strstr(p, "..")); p++)
				if ((p == out || p[-1] == '/') && (p[2] == '/' || !p[2]))
					abort();
		}
		break;
	}
	}
	if (err.msg[0])
		no_ctrl(err.msg);
	free(s);
	return 0;
}
