"""From conversations to tokens: templates (one class each + registry), the single renderer, the Template Doctor
and its findings, the token view, the template contract, dataset building."""
