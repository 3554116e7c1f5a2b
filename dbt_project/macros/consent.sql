{#- R13: a channel may be used for a customer when the customer gave the consent the
    channel needs (its consent_flag in the seed winback_channels; a visit is arranged by
    phone). `channels` and `customers` are relation aliases; the customer relation has the
    has_consent_* flags of stg_shop__customers. -#}
{% macro has_channel_consent(channels, customers) -%}
    (
        ({{ channels }}.consent_flag = 'email' and {{ customers }}.has_consent_email)
        or ({{ channels }}.consent_flag = 'sms' and {{ customers }}.has_consent_sms)
        or ({{ channels }}.consent_flag = 'phone' and {{ customers }}.has_consent_phone)
        or ({{ channels }}.consent_flag = 'push' and {{ customers }}.has_consent_push)
    )
{%- endmacro %}
