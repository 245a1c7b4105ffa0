/* roles: what each integer [batch, seq] input of a text classifier holds, so the feeder fills it
 * right — token ids, an attention mask (1 on real tokens), token types (segment ids, 0 for one
 * text) or position ids (0..T-1).
 *
 * Decided in this order: a `--input-role NAME=ROLE` the user gave; the input's use in the graph
 * (the word-embedding Gather's indices are the ids; indices of another Gather of a float table are
 * token types or positions — by name when the name says which, else positions when the table has
 * more rows than VM_ROLE_MAX_TYPES; an input only used arithmetically is a mask); its name (HF's input_ids / attention_mask / token_type_ids /
 * position_ids and common variants). Recorded as g->meta "vmaskc.role.NAME" = ids | mask | types |
 * positions, which the runtime's feeder reads and an export keeps in its metadata_props (a role
 * stored there is used as if given by the user).
 */
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "training.h"

/* a type-embedding table is small (BERT: 2 rows); a position table is as long as the longest text */
#define VM_ROLE_MAX_TYPES 8

static const char *const role_names[] = {"ids", "mask", "types", "positions"};

bool vm_role_name_valid(const char *role) {
    for (size_t k = 0; k < sizeof role_names / sizeof role_names[0]; k++)
        if (!strcmp(role, role_names[k])) return true;
    return false;
}

static const char *role_by_name(const char *name) {
    char low[256];
    size_t n = strlen(name);
    if (n >= sizeof low) n = sizeof low - 1;
    for (size_t i = 0; i < n; i++) low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    low[n] = 0;
    if (strstr(low, "position") || strstr(low, "pos_id")) return "positions";
    if (strstr(low, "type") || strstr(low, "segment")) return "types";
    if (strstr(low, "mask")) return "mask";
    if (strstr(low, "ids") || strstr(low, "input") || strstr(low, "token")) return "ids";
    return NULL;
}

/* The role an input's consumers show, or NULL when they say nothing. */
static const char *role_by_use(const struct vm_graph *g, int32_t v, int32_t emb) {
    int32_t gather = vm_op_find(NULL, "Gather");
    bool arithmetic = false;
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        int32_t id = g->order[oi];
        const struct vm_node *n = &g->nodes[id];
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] != v) continue;
            if (id == emb && k == 1) return "ids";
            if (n->op == gather && k == 1 && n->in[0] >= 0) {
                const struct vm_value *t = &g->values[n->in[0]];
                if (t->rank == 2 && vm_dtype_is_float(t->dtype) && vm_dim_is_const(&t->dims[0])) {
                    const char *named = role_by_name(g->values[v].name);
                    if (named && (!strcmp(named, "types") || !strcmp(named, "positions"))) return named;
                    return vm_dim_value(&t->dims[0]) > VM_ROLE_MAX_TYPES ? "positions" : "types";
                }
            }
            arithmetic = true;
        }
    }
    return arithmetic ? "mask" : NULL;
}

enum vm_status vm_annotate_input_roles(struct vm_graph *g, int32_t emb, const char *const *specs, int n_specs,
                                       struct vm_error *err) {
    /* every --input-role names an input of the graph */
    for (int k = 0; k < n_specs; k++) {
        const char *eq = strchr(specs[k], '=');
        bool found = false;
        for (int32_t i = 0; eq && i < g->n_inputs; i++) {
            const char *name = g->values[g->inputs[i]].name;
            found |= strlen(name) == (size_t)(eq - specs[k]) && !strncmp(name, specs[k], (size_t)(eq - specs[k]));
        }
        if (!eq || !vm_role_name_valid(eq + 1))
            return vm_errorf(err, VM_EINVAL, "--input-role %s: expected NAME=ROLE with ROLE one of ids, mask, types, positions", specs[k]);
        if (!found) {
            char names[512] = "";
            size_t pos = 0;
            for (int32_t i = 0; i < g->n_inputs && pos < sizeof names; i++)
                pos += (size_t)snprintf(names + pos, sizeof names - pos, "%s%s", i ? ", " : "", g->values[g->inputs[i]].name);
            return vm_errorf(err, VM_EINVAL, "--input-role %s: the model has no input of that name (its inputs: %s)", specs[k], names);
        }
    }
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const struct vm_value *v = &g->values[g->inputs[i]];
        if ((v->dtype != VM_DTYPE_INT64 && v->dtype != VM_DTYPE_INT32) || v->rank != 2) continue;
        const char *role = NULL;
        for (int k = 0; k < n_specs && !role; k++) {
            const char *eq = strchr(specs[k], '=');
            if (strlen(v->name) == (size_t)(eq - specs[k]) && !strncmp(v->name, specs[k], (size_t)(eq - specs[k]))) role = eq + 1;
        }
        char key[300];
        snprintf(key, sizeof key, "vmaskc.role.%s", v->name);
        /* an exported model carries the roles its training used */
        const char *stored = vm_graph_get_meta(g, key);
        if (!role && stored && vm_role_name_valid(stored)) continue;
        if (!role) role = role_by_use(g, g->inputs[i], emb);
        if (!role) role = role_by_name(v->name);
        if (!role) continue;
        enum vm_status s = vm_graph_set_meta(g, key, role, err);
        if (s) return s;
    }
    return VM_OK;
}
