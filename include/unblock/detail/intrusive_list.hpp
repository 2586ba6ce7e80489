/// \file detail/intrusive_list.hpp
/// The one intrusive list the library queues things in: the loop's ready
/// queue, a thread pool's work queue, the loop's list of tasks.
#pragma once

#include <cstddef>
#include <type_traits>

namespace unblock::detail {

/// How a list links its nodes.
enum class list_links {
    /// Forward only: push, pop, splice, no removal from the middle. One
    /// pointer per node — for what every coroutine frame carries (the loop's
    /// ready queue): a second pointer costs 8 bytes per suspended task.
    single,
    /// Both ways: also O(1) removal of any node, without naming its list.
    both,
};

/// An empty stand-in for the backward link of a singly linked hook.
struct no_link {};

/// The links an object needs to be in an `intrusive_list<Node, Tag, Links>`.
/// An object in lists of two kinds derives from two hooks with different
/// tags. Linking allocates nothing: the links live in the object.
template <class Tag, list_links Links = list_links::both>
struct list_hook {
    list_hook() noexcept = default;
    list_hook(const list_hook&) = delete;
    list_hook& operator=(const list_hook&) = delete;
    ~list_hook() = default;

    [[nodiscard]] bool is_linked() const noexcept { return m_next != nullptr; }

    /// Takes this object out of whatever list holds it (doubly linked lists
    /// only). The list need not be named: it is circular through a sentinel.
    void unlink() noexcept requires(Links == list_links::both) {
        if (m_next == nullptr) return;
        m_prev->m_next = m_next;
        m_next->m_prev = m_prev;
        m_prev = m_next = nullptr;
    }

    list_hook* m_next = nullptr; ///< null when unlinked
    [[no_unique_address]] std::conditional_t<Links == list_links::both, list_hook*, no_link>
        m_prev{};
};

/// A circular list of `Node`s, which derive from `list_hook<Tag, Links>`,
/// through a sentinel hook inside the list: O(1) push, pop and splice, and with
/// `list_links::both` O(1) removal from the middle. No size kept (who needs
/// one counts). Single-threaded: the owner synchronises. The list never owns
/// its nodes; whoever links a node keeps it alive until it is unlinked.
template <class Node, class Tag = Node, list_links Links = list_links::both>
class intrusive_list {
    using hook = list_hook<Tag, Links>;
    static constexpr bool doubly = Links == list_links::both;

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

    void push_back(Node* node) noexcept {
        hook* h = to_hook(node);
        hook* last = tail();
        h->m_next = &m_end;
        last->m_next = h;
        if constexpr (doubly) {
            h->m_prev = last;
            m_end.m_prev = h;
        } else {
            m_tail = h;
        }
    }

    void push_front(Node* node) noexcept requires doubly {
        hook* h = to_hook(node);
        hook* first = m_end.m_next;
        h->m_prev = &m_end;
        h->m_next = first;
        first->m_prev = h;
        m_end.m_next = h;
    }

    [[nodiscard]] Node* pop_front() noexcept {
        if (empty()) return nullptr;
        hook* first = m_end.m_next;
        if constexpr (doubly) {
            first->unlink();
        } else {
            m_end.m_next = first->m_next;
            if (m_tail == first) m_tail = &m_end;
            first->m_next = nullptr;
        }
        return node_of(first);
    }

    /// Moves every node of `other` to the back of this list, keeping order.
    void splice_back(intrusive_list& other) noexcept {
        if (other.empty()) return;
        hook* first = other.m_end.m_next;
        hook* last = other.tail();
        tail()->m_next = first;
        last->m_next = &m_end;
        if constexpr (doubly) {
            first->m_prev = m_end.m_prev;
            m_end.m_prev = last;
        } else {
            m_tail = last;
        }
        other.clear();
    }

    /// Appends a chain linked newest-first through `m_next` and ending in
    /// null (what a lock-free stack yields), so its oldest node comes first.
    void append_reversed_chain(hook* newest) noexcept {
        hook* oldest_first = nullptr;
        while (newest != nullptr) {
            hook* older = newest->m_next;
            newest->m_next = oldest_first;
            oldest_first = newest;
            newest = older;
        }
        while (oldest_first != nullptr) {
            hook* next = oldest_first->m_next;
            push_back(node_of(oldest_first));
            oldest_first = next;
        }
    }

    /// Empties the list, calling `visit(Node&)` for each node front to back,
    /// each already unlinked when visited. Cheaper than popping one by one
    /// (no neighbour is relinked); `visit` must not add to this list.
    template <class Visit>
    void consume(Visit visit) {
        hook* h = m_end.m_next;
        clear();
        while (h != &m_end) {
            hook* next = h->m_next;
            h->m_next = nullptr;
            if constexpr (doubly) h->m_prev = nullptr;
            visit(*node_of(h));
            h = next;
        }
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

    hook* tail() noexcept {
        if constexpr (doubly) {
            return m_end.m_prev;
        } else {
            return m_tail;
        }
    }

    void clear() noexcept {
        m_end.m_next = &m_end;
        if constexpr (doubly) {
            m_end.m_prev = &m_end;
        } else {
            m_tail = &m_end;
        }
    }

    void take(intrusive_list& other) noexcept {
        clear();
        splice_back(other);
    }

    hook m_end; ///< the sentinel: m_end.m_next is the front
    /// The back (doubly linked lists keep it in m_end.m_prev).
    [[no_unique_address]] std::conditional_t<doubly, no_link, hook*> m_tail{};
};

} // namespace unblock::detail
