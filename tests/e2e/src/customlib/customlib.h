/* customlib: header-only, installed by the manifest's build_steps (build type
 * "custom"). */
#ifndef CUSTOMLIB_H
#define CUSTOMLIB_H

#define CUSTOMLIB_BANNER "e2e fixtures"

static inline int customlib_answer(void)
{
    return 42;
}

#endif
