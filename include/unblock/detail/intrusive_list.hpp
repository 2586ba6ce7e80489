/// \file detail/intrusive_list.hpp
/// The one intrusive list the library queues things in: the loop's ready
/// queue, a thread pool's work queue, the loop's list of tasks.
#pragma once

#include <cstddef>

namespace unblock::detail {

/// The links an object needs to be in an `intrusive_list<Node, Tag>`. An
/// object that sits in lists of two kinds derives from two hooks with
/// different tags. Linking allocates nothing: the links live in the object.
template <class Tag>
struct list_hook {
    list_hook() noexcept = default;
    list_hook(const list_hook&) = delete;
    list_hook& operator=(const list_hook&) = delete;
    ~list_hook() = default;

    [[nodiscard]] bool is_linked() const noexcept { return m_next != nullptr; }

    /// Takes this object out of whatever list holds it. The list need not be
    /// named: the list is circular, through a sentinel hook inside the list.
    void unlink() noexcept {
        if (m_next == nullptr) return;
        m_prev->m_next = m_next;
        m_next->m_prev = m_prev;
        m_prev = m_next = nullptr;
    }

    list_hook* m_prev = nullptr;
    list_hook* m_next = nullptr; ///< null when unlinked
};

/// A circular doubly-linked list of `Node`s, which derive from
/// `list_hook<Tag>`: O(1) push, pop, splice and removal from the middle; no
/// size kept (who needs one counts). Single-threaded: the owner synchronises.
/// The list never owns its nodes; whoever links a node keeps it alive.
template <class Node, class Tag = Node>
class intrusive_list {
    using hook = list_hook<Tag>;

public:
    intrusive_list() noexcept { clear(); }
    intrusive_list(const intrusive_list&) = delete;
    intrusive_list& operator=(const intrusive_list&) = delete;
    intrusive_list(intrusive_list&& other) noexcept { take(other); }
    intrusive_list& operator=(intrusive_list&& other) noexcept {
        if (this != &other) take(other);
        return *this;
    }
    ~intrusive_list() = default;

    [[nodiscard]] bool empty() const noexcept { return m_end.m_next == &m_end; }

    [[nodiscard]] Node* front() const noexcept { return empty() ? nullptr : node_of(m_end.m_next); }

    void push_back(Node* node) noexcept { insert_before(m_end, *to_hook(node)); }
    void push_front(Node* node) noexcept { insert_before(*m_end.m_next, *to_hook(node)); }

    [[nodiscard]] Node* pop_front() noexcept {
        if (empty()) return nullptr;
        hook* first = m_end.m_next;
        first->unlink();
        return node_of(first);
    }

    /// Moves every node of `other` to the back of this list, keeping order.
    void splice_back(intrusive_list& other) noexcept {
        if (other.empty()) return;
        hook* first = other.m_end.m_next;
        hook* last = other.m_end.m_prev;
        first->m_prev = m_end.m_prev;
        m_end.m_prev->m_next = first;
        last->m_next = &m_end;
        m_end.m_prev = last;
        other.clear();
    }

    /// Adopts a chain linked newest-first through `m_next` and ending in null
    /// (what a lock-free stack yields), so the oldest node comes out first.
    [[nodiscard]] static intrusive_list from_reversed_chain(hook* newest) noexcept {
        intrusive_list list;
        while (newest != nullptr) {
            hook* older = newest->m_next;
            insert_before(*list.m_end.m_next, *newest);
            newest = older;
        }
        return list;
    }

    /// Calls `visit(Node&)` for each node, front to back. `visit` must not
    /// unlink any node but the one it is given.
    template <class Visit>
    void for_each(Visit visit) {
        for (hook* h = m_end.m_next; h != &m_end;) {
            hook* next = h->m_next;
            visit(*node_of(h));
            h = next;
        }
    }

private:
    static hook* to_hook(Node* node) noexcept { return static_cast<hook*>(node); }
    static Node* node_of(hook* h) noexcept { return static_cast<Node*>(h); }

    static void insert_before(hook& position, hook& node) noexcept {
        node.m_prev = position.m_prev;
        node.m_next = &position;
        position.m_prev->m_next = &node;
        position.m_prev = &node;
    }

    void clear() noexcept { m_end.m_prev = m_end.m_next = &m_end; }

    void take(intrusive_list& other) noexcept {
        clear();
        splice_back(other);
    }

    hook m_end; ///< the sentinel: m_end.m_next is the front, m_end.m_prev the back
};

} // namespace unblock::detail
