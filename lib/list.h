/* SPDX-License-Identifier: Apache-2.0 */
/* list.h - intrusive doubly linked lists: the element holds its prev/next pointers */
#pragma once

#include <stddef.h>

/*
 * @prev and @next name the element's link fields (e.g. streams_prev and
 * streams_next, so one element can sit on several lists); @head is the
 * list's first element (NULL when empty). Callers do their own locking.
 */

/* Put @item first on the list at @head. */
#define LIST_PREPEND(prev, next, head, item)                                    \
        do {                                                                    \
                __typeof__(item) _li = (item);                                  \
                _li->prev = NULL;                                               \
                _li->next = (head);                                             \
                if (_li->next)                                                  \
                        _li->next->prev = _li;                                  \
                (head) = _li;                                                   \
        } while (0)

/* Take @item, which is on the list at @head, off it (its links are cleared). */
#define LIST_REMOVE(prev, next, head, item)                                     \
        do {                                                                    \
                __typeof__(item) _li = (item);                                  \
                if (_li->next)                                                  \
                        _li->next->prev = _li->prev;                            \
                if (_li->prev)                                                  \
                        _li->prev->next = _li->next;                            \
                else                                                            \
                        (head) = _li->next;                                     \
                _li->prev = _li->next = NULL;                                   \
        } while (0)
