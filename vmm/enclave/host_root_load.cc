// vmm/enclave/host_root_load.cc — see host_root_load.h.
#include "vmm/enclave/host_root_load.h"

#include "vmm/enclave/attestation_keys.h"

#include <openssl/crypto.h>
#include <unistd.h>

namespace vmm {

HostRootLoad HostRootLoad::start()
{
    HostRootLoad load;
    if (::geteuid() != 0)
        return load;
    load.m_result = std::make_shared<Result>();
    load.m_thread = std::thread([result = load.m_result] {
        try {
            result->root = load_or_create_host_root();
            result->leaf_key = nsm::new_p384_key();
        } catch (...) {
            result->error = std::current_exception();
        }
    });
    return load;
}

HostRootLoad::~HostRootLoad()
{
    if (m_thread.joinable())
        m_thread.join();
    if (m_result && m_result->root)
        OPENSSL_cleanse(m_result->root->key_pem.data(), m_result->root->key_pem.size());
}

nsm::KeyAndCert HostRootLoad::take()
{
    if (!m_result)
        return load_or_create_host_root();
    if (m_thread.joinable())
        m_thread.join();
    std::shared_ptr<Result> result = std::move(m_result);
    if (result->error)
        std::rethrow_exception(result->error);
    m_leaf_key = std::move(result->leaf_key);
    nsm::KeyAndCert root = std::move(*result->root);
    result->root.reset();
    return root;
}

eif::PkeyPtr HostRootLoad::take_leaf_key()
{
    return m_leaf_key ? std::move(m_leaf_key) : nsm::new_p384_key();
}

} // namespace vmm
