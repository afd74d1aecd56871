// Most shims are header-only (static inline); CRC-32C lives in crc32c.c.
#include "CCaskSupport.h"

static _Thread_local void *current_transaction;

void *cask_current_transaction(void) { return current_transaction; }
void cask_set_current_transaction(void *transaction) { current_transaction = transaction; }
